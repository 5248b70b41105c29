# needledrop placeholder
